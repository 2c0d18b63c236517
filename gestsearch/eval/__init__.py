"""`gestsearch eval`: the AVS benchmarks, the official protocol first, then the engine's re-ranking."""
