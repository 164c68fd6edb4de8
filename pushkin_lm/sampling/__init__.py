"""Sampling verse: the sampler, candidate lines in the decoder's lanes, stanzas in a form.

See docs/architecture.md for what this folder owns and must not know."""
