"""Write a factroots index's lines in other engines' formats."""
