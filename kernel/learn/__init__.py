"""The learning module: training examples from the journal (export), from a synthetic
curriculum and from a synthetic function-calling catalog (toolcalls), LoRA fine-tuning on the
transformers driver (train), the adapter as a GGUF that the llama.cpp driver applies
(`--model default+lora:NAME`), and the recipe of llmos's own adapter (`default+lora:llmos`)."""
