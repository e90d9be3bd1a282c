"""What a grade becomes: Gradescope results.json and the table (:mod:`.results`), a merged CPU+GPU result
(:mod:`.merge`), the class gradebook CSV (:mod:`.gradebook`) and its report (:mod:`.report`)."""
