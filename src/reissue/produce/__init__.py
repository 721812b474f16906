"""Production: the DSP stages that turn an analysed original and a plan into the new recording."""
