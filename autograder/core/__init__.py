"""The data the grader is built on, importing no other layer but the runtime: course.yml (:mod:`.config`),
the data model of a check and its results (:mod:`.model`), the base models (:mod:`.models`), the safe
reader of untrusted files (:mod:`.untrusted`) and cleanup."""
