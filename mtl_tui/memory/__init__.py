"""The per-user memory pool. Nothing here imports Textual or litellm."""
