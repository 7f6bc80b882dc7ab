"""What venue operators read from stored counts: reports and charts (`report`)."""
