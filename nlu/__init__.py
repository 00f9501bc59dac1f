"""Rasa training data and the custom NLU components of TaxGuide."""
