"""The Textual face of mtl. Only this package imports Textual."""
