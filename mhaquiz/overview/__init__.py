"""What spans questions and exercises, above both: `mhaquiz stats` (stats.py, the data; view.py, its
rendering). It reads the quiz (mhaquiz/quiz/) and the practice loop (mhaquiz/practice/); neither reads it."""
