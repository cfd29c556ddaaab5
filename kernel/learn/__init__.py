"""The learning module: training examples from the journal (export) and from a synthetic
curriculum, LoRA fine-tuning on the transformers driver (train), and the adapter as a GGUF
that the llama.cpp driver applies (`--model default+lora:NAME`)."""
