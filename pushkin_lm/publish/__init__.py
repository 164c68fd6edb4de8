"""What shows a model to others: PushkinLM with the Hub mixin, its model card, pictures.

See docs/architecture.md for what this folder owns and must not know."""
