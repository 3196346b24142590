"""Contact-center base: customer 360, caller numbers, lists, contact history, knowledge."""
