"""The guided calculators: four Rasa forms that collect a taxpayer's figures and reply with the tax.

`catalog` says what each calculator asks for (data), `reading` reads a message into its slots (pure),
`validation` checks the answers (the forms' `validate_<form>` actions), `asking` asks the questions
(`action_ask_<slot>`, `action_ask_calculator`) and `results` runs `actions.taxcalc` on the collected
slots and replies with the working and the rules used (`action_calculate_<name>`,
`action_cancel_calculation`). rasa-sdk registers every action class when it imports these modules.
"""
