"""The automatic recipe: from the user's data and time budget to a trained model and a report."""
