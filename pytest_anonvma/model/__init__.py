"""The simulated mm: a Python engine that mirrors the kernel's mm/ files, one module per file."""
