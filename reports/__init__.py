"""Evidence → Allure attachments, plots, run summaries."""
