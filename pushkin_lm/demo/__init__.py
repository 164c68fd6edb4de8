"""The web demo: a request, the engine that answers it, the Gradio page.

See docs/architecture.md for what this folder owns and must not know."""
