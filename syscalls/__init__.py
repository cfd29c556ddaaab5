"""The syscall table: specs, errno, dispatcher, one module per family."""
