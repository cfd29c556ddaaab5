"""Inference devices: llama.cpp (default), scripted (tests); see base.Driver for the protocol."""
