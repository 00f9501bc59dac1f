"""The TaxGuide action server (rasa-sdk): knowledge answers, the handoff request and the guided calculators."""
