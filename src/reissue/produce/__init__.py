"""Production: the DSP stages that turn an analysed recording into its re-production."""
