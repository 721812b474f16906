"""Production: DSP stages that turn a plan into audio (restore, separate, master, mix, render)."""
