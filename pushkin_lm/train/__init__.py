"""Training: the recipe, one step, the loop, torchrun, starting from a checkpoint.

See docs/architecture.md for what this folder owns and must not know."""
