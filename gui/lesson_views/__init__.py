"""The lessons in the app: the browser (the lecture's lessons in order), the open lesson's panel
(explanation, formulas with live values, runs and "try this" steps) and what ran, remembered."""
