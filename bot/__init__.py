"""TaxGuide gateway: owns taxpayer connections in front of Rasa."""
