"""Guards: the `Guard` protocol and its decisions, injection rules, the grounding output check."""
