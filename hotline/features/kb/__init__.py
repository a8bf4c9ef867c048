"""The knowledge base (知识库): its desk (the CLI and the API's actions), its Chinese
search, and what the line plays from it."""
