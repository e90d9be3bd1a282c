"""``course export``: the late policy of course.yml and the files Canvas and Moodle import, each to the exact
bytes: a roster with a comma and non-ASCII letters in names, a name that a spreadsheet would evaluate, a
student without a submission, a submission not on the roster, an extension, a late submission, one inside
the grace, one past the cutoff, times from Gradescope's metadata and from a CSV."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autograder.commands.cli import main
from autograder.core.config import ConfigError, LatePolicy, load_course
from autograder.output.gradebook import lateness
from conftest import ROOT, write_course

LATE = {"due": "2026-12-11 23:59", "timezone": "Europe/Brussels", "grace_minutes": 15, "per_day": 0.1,
        "max_deduction": 0.3, "cutoff": "2026-12-15 23:59"}
ROSTER = ('\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,LoRA lab (4321),Current Score,Final Score\n'
          '    Points Possible,,,,,116,(read only),(read only)\n'
          '"Dupont, Zoé",101,S001,zoe.dupont@uni.example,"Section A, Mon",,,\n'
          'Łukasz Wójcik,102,S002,lwojcik,Section B,,,\n'
          'Ana Nuñez,103,S003,ana.nunez@uni.example,Section A,,,\n'
          '"=HYPERLINK(""x"")",104,S004,mallory,Section B,,,\n'
          'Bob Early,105,S005,bob,Section A,,,\n'
          'Chloé Martin,106,S006,chloe,Section B,,,\n')
GRADEBOOK = ("submission,total\n"
             "submission_111,110\n"     # Zoé, by the email in Gradescope's metadata, on time
             "lwojcik,100\n"            # 2 days late: 2 x 10% of 116 deducted
             "ana,90\n"                 # 2.5 days late, with a 3-day extension: on time (matched by --mapping)
             "mallory,70\n"             # past the cutoff: no credit
             "bob,50.5\n"               # 11 minutes late, inside the 15 minutes of grace
             "ghost,80\n")              # on no roster
SUBMITTED = ("submission,submitted_at\n"
             "lwojcik,2026-12-13T10:00:00+01:00\n"
             "ana,2026-12-14T12:00:00\n"
             "mallory,2026-12-16T09:00:00+01:00\n"
             "bob,2026-12-12T00:10:00+01:00\n"
             "ghost,2026-12-11T20:00:00+01:00\n")

CANVAS = ('Student,ID,SIS User ID,SIS Login ID,Section,LoRA lab (4321)\r\n'
          'Points Possible,,,,,116\r\n'
          '"Dupont, Zoé",101,S001,zoe.dupont@uni.example,"Section A, Mon",110\r\n'
          'Łukasz Wójcik,102,S002,lwojcik,Section B,76.8\r\n'
          'Ana Nuñez,103,S003,ana.nunez@uni.example,Section A,90\r\n'
          '"\'=HYPERLINK(""x"")",104,S004,mallory,Section B,0\r\n'
          'Bob Early,105,S005,bob,Section A,50.5\r\n'
          'Chloé Martin,106,S006,chloe,Section B,\r\n')
LATE_GRADEBOOK = ("submission,submitted_at,late_days,raw,deduction,final,note\n"
                  "submission_111,2026-12-11T22:58:00.123456+00:00,0,110,0,110,\n"
                  "lwojcik,2026-12-13T10:00:00+01:00,2,100,23.2,76.8,\n"
                  "ana,2026-12-14T12:00:00+01:00,0,90,0,90,extension of 3 days\n"
                  "mallory,2026-12-16T09:00:00+01:00,5,70,70,0,after the cutoff: no credit\n"
                  "bob,2026-12-12T00:10:00+01:00,0,50.5,0,50.5,\n"
                  "ghost,2026-12-11T20:00:00+01:00,0,80,0,80,\n")


@pytest.fixture
def late_course(tmp_path: Path) -> Path:
    def mutate(data):
        data["assignments"]["lora"]["late"] = dict(LATE)
        data["assignments"]["lora"]["release"] = str(ROOT / "assignments" / "lora")
    return write_course(tmp_path / "course", mutate)


@pytest.fixture
def class_files(tmp_path: Path) -> dict[str, Path]:
    files = {"roster": ROSTER, "gradebook": GRADEBOOK, "submitted": SUBMITTED,
             "extensions": "student,days\nana.nunez@uni.example,3\n", "mapping": "submission,student\nana,S003\n"}
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text, encoding="utf-8")
    submissions = tmp_path / "class"
    (submissions / "submission_111").mkdir(parents=True)
    (submissions / "submission_111" / "submission_metadata.json").write_text(json.dumps(
        {"id": 111, "created_at": "2026-12-11T22:58:00.123456+00:00",
         "users": [{"email": "Zoe.Dupont@uni.example", "name": "Zoé Dupont", "sid": "S001"}]}))
    paths["submissions"] = submissions
    return paths


def test_canvas_export_to_the_byte(late_course, class_files, tmp_path, capsys):
    assert load_course(late_course).assignment().points == 116, "course.yml's total changed: update the bytes here"
    out = tmp_path / "import.csv"
    code = main(["--course", str(late_course), "export", "--format", "canvas", "--roster", str(class_files["roster"]),
                 "--gradebook", str(class_files["gradebook"]), "--column", "LoRA lab (4321)", "--out", str(out),
                 "--submissions", str(class_files["submissions"]), "--submitted", str(class_files["submitted"]),
                 "--extensions", str(class_files["extensions"]), "--mapping", str(class_files["mapping"])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.read_bytes() == CANVAS.encode("utf-8")
    assert (tmp_path / "import-late.csv").read_bytes() == LATE_GRADEBOOK.encode("utf-8")
    assert "not on the roster: ghost" in captured.err
    assert "5 of 6 students graded (1 without a submission, left blank); 1 submissions not on the roster" in captured.out


def test_canvas_export_without_points_row_and_computed_column_refused(late_course, class_files, tmp_path, capsys):
    out = tmp_path / "import.csv"
    base = ["--course", str(late_course), "export", "--format", "canvas", "--roster", str(class_files["roster"]),
            "--gradebook", str(class_files["gradebook"]), "--out", str(out), "--submitted", str(class_files["submitted"])]
    assert main([*base, "--column", "LoRA lab (4321)", "--no-points-possible"]) == 0
    lines = out.read_bytes().decode("utf-8").split("\r\n")
    assert lines[1].startswith('"Dupont, Zoé",101,') and lines[1].endswith(",")   # no metadata: no email, no match
    assert "Points Possible" not in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main([*base, "--column", "Current Score"]) == 2
    assert "Canvas computes itself" in capsys.readouterr().err


def test_moodle_export_to_the_byte(late_course, class_files, tmp_path, capsys):
    roster = tmp_path / "moodle.csv"
    roster.write_text("First name,Last name,ID number,Institution,Department,Email address,"
                      "Assignment: LoRA lab (Real),Last downloaded from this course\n"
                      'Zoé,"Dupont, Jr",S001,,,zoe.dupont@uni.example,-,1765000000\n'
                      "Łukasz,Wójcik,S002,,,lwojcik@uni.example,-,1765000000\n"
                      "@Eve,Attack,S007,,,+eve@uni.example,-,1765000000\n", encoding="utf-8")
    mapping = tmp_path / "moodle-mapping.csv"
    mapping.write_text("submission,student\nlwojcik,S002\n", encoding="utf-8")
    out = tmp_path / "moodle-import.csv"
    code = main(["--course", str(late_course), "export", "--format", "moodle", "--roster", str(roster),
                 "--gradebook", str(class_files["gradebook"]), "--column", "LoRA lab", "--out", str(out),
                 "--submissions", str(class_files["submissions"]), "--submitted", str(class_files["submitted"]),
                 "--mapping", str(mapping)])
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == ("Email address,LoRA lab\r\n"
                                "zoe.dupont@uni.example,110\r\n"
                                "lwojcik@uni.example,76.8\r\n"
                                "'+eve@uni.example,\r\n").encode("utf-8")


def test_late_policy_arithmetic():
    zone = ZoneInfo("America/New_York")
    policy = LatePolicy(due=datetime(2026, 3, 7, 23, 59, tzinfo=zone), grace_minutes=0, per_day=0.25,
                        max_deduction=0.5, cutoff=None)
    at = lambda *args: datetime(*args, tzinfo=zone)                                 # noqa: E731
    assert lateness(80, 100, at(2026, 3, 7, 23, 59), policy).late_days == 0
    assert lateness(80, 100, at(2026, 3, 8, 0, 0), policy) == lateness(80, 100, at(2026, 3, 8, 23, 59), policy)
    assert lateness(80, 100, at(2026, 3, 8, 0, 0), policy).final == 55
    # across the change to summer time (8 March 2026): 24 real hours after the due date is still one day
    assert lateness(80, 100, at(2026, 3, 9, 0, 59), policy).late_days == 1
    assert lateness(80, 100, at(2026, 3, 12, 0, 0), policy).final == 30            # capped at 50 of 100
    assert lateness(20, 100, at(2026, 3, 12, 0, 0), policy).final == 0             # never below 0
    assert lateness(80, 100, None, policy).final == 80


def test_late_policy_validation(tmp_path):
    def broken(data):
        data["assignments"]["lora"]["late"] = {"due": "11 Dec", "timezone": "Mars/Olympus", "per_day": 2,
                                               "cutoff": "2026-12-01 10:00"}
        data["similarity"] = {"threshold": 1.5}
    with pytest.raises(ConfigError) as error:
        load_course(write_course(tmp_path, broken))
    text = "\n".join(error.value.problems)
    for expected in ("late.timezone: not a time zone", "late.due: must be a date and time", "late.per_day",
                     "similarity.threshold: must be a number above 0 and at most 1"):
        assert expected in text, text
