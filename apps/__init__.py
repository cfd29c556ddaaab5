"""Apps: the SDK (manifest, App), the registry (entry points `llmos.apps`, loose files), launch."""
