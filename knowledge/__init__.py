"""The TaxGuide knowledge base: articles, schema and the hybrid retriever."""
