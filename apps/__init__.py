"""Apps: the app SDK (manifest, App) and the loader (entry points group `llmos.apps`).

The kernel-loop issue fills this package; until then, scripts use `llmos.kernel.Kernel`.
"""
