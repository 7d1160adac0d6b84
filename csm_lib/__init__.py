"""Customer-success analytics workbook."""
