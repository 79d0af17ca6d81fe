"""Qt front end of TagBox GUI."""
