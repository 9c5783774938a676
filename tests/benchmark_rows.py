"""Small local copies of each benchmark in its native hub shape (the hub's column names and value types),
written by the tests. Every question here is physlora's own, not a benchmark item."""

from __future__ import annotations

import json
from pathlib import Path

MMLU_TEST = [
    {"question": "A cart of mass 2 kg is pushed by a net force of 6 N. What is its acceleration?", "subject": "college_physics",
     "choices": ["1 m/s^2", "3 m/s^2", "6 m/s^2", "12 m/s^2"], "answer": 1},
    {"question": "Which quantity is conserved in a perfectly inelastic collision of two carts on a frictionless track?",
     "subject": "college_physics", "choices": ["Kinetic energy", "Momentum", "Speed of each cart", "Mechanical energy"], "answer": 1},
    {"question": "  A wave has frequency 50 Hz and wavelength 2 m. How fast does it travel?  ", "subject": "college_physics",
     "choices": ["25 m/s", "52 m/s", "100 m/s", "0.04 m/s"], "answer": 2},
    {"question": "The SI unit of magnetic flux density is the", "subject": "college_physics",
     "choices": ["weber", "henry", "gauss", "tesla"], "answer": 3},
]
MMLU_DEV = [
    {"question": f"Practice question {i}: what is {i} + {i} newtons?", "subject": "college_physics",
     "choices": [f"{i} N", f"{2 * i} N", f"{3 * i} N", f"{4 * i} N"], "answer": 1}
    for i in range(1, 6)
]

GPQA = [
    {"Question": "A thin lens of focal length 10 cm images an object placed 30 cm in front of it. Where is the image?",
     "Correct Answer": "15 cm behind the lens", "Incorrect Answer 1": "7.5 cm behind the lens",
     "Incorrect Answer 2": "30 cm in front of the lens", "Incorrect Answer 3": "20 cm behind the lens",
     "High-level domain": "Physics", "Subdomain": "Optics", "Record ID": "recOPT1", "Explanation": "1/v = 1/10 - 1/30."},
    {"Question": "Which gas law relates pressure and volume at constant temperature?", "Correct Answer": "Boyle's law",
     "Incorrect Answer 1": "Charles's law", "Incorrect Answer 2": "Gay-Lussac's law  [title] note",
     "Incorrect Answer 3": "Avogadro's law", "High-level domain": "Physics", "Subdomain": "Thermodynamics",
     "Record ID": "recTHM2", "Explanation": "PV = const at fixed T."},
    {"Question": "Which base pairs with adenine in DNA?", "Correct Answer": "Thymine", "Incorrect Answer 1": "Cytosine",
     "Incorrect Answer 2": "Guanine", "Incorrect Answer 3": "Uracil", "High-level domain": "Biology",
     "Subdomain": "Molecular Biology", "Record ID": "recBIO3", "Explanation": "A-T pairing."},
]

SCIBENCH = [
    {"problem_text": "A ball is dropped from rest from a height of 20 m. Neglecting air resistance, how long does it take to reach the ground?",
     "answer_latex": "2.02", "answer_number": "2.02", "unit": " $\\mathrm{s}$", "source": "fund", "problemid": " 2.3 ", "comment": "", "solution": ""},
    {"problem_text": "A satellite orbits at a speed of 7700 m/s. Express this speed in units of 10^3 m/s.",
     "answer_latex": "7.7", "answer_number": "7.7", "unit": "10^3 $\\mathrm{m/s}$", "source": "class", "problemid": "4.1", "comment": "", "solution": ""},
    {"problem_text": "What is the molar mass of water?", "answer_latex": "18.0", "answer_number": "18.0",
     "unit": " $\\mathrm{g/mol}$", "source": "atkins", "problemid": "1.1", "comment": "", "solution": ""},
]

THEOREMQA = [
    {"Question": "A spring of constant 200 N/m is stretched by 0.1 m. How much energy does it store, in J?", "Answer": 1.0,
     "Answer_type": "float", "Picture": None, "id": "own/spring1.json", "subfield": "Classical mechanics", "field": "Physics"},
    {"Question": "Is the magnetic force on a moving charge always perpendicular to its velocity?", "Answer": True,
     "Answer_type": "bool", "Picture": None, "id": "own/lorentz1.json", "subfield": "Electromagnetism", "field": "Physics"},
    {"Question": "Give the first two harmonics, in Hz, of a string whose fundamental is 110 Hz, as a list.", "Answer": [110, 220],
     "Answer_type": "list of integer", "Picture": None, "id": "own/string1.json", "subfield": "Wave", "field": "Physics"},
    {"Question": "What is the derivative of x^2 at x = 3?", "Answer": 6, "Answer_type": "integer", "Picture": None,
     "id": "own/calc1.json", "subfield": "Calculus", "field": "Math"},
    {"Question": "Read the period from the plotted wave, in s.", "Answer": 0.5, "Answer_type": "float",
     "Picture": "images/wave.png", "id": "own/plot1.json", "subfield": "Wave", "field": "Physics"},
]

UGPHYSICS = [
    {"index": 1, "problem": "A body of mass m slides down a frictionless incline of angle theta. Find its acceleration.",
     "solution": "a = g sin(theta)", "answers": "g \\sin\\theta", "unit": "", "answer_type": "EX", "subject": "ClassicalMechanics",
     "topic": "Newton", "level": "Laws Application", "is_multiple_answer": False},
    {"index": 2, "problem": "An ideal gas at 300 K is heated at constant pressure until its volume doubles. Find the final temperature.",
     "solution": "T = 600 K", "answers": "600", "unit": "K", "answer_type": "NV", "subject": "Thermodynamics",
     "topic": "Gas laws", "level": "Laws Application", "is_multiple_answer": False},
    {"index": 3, "problem": "Give the speeds of two carts after an elastic collision: cart 1 (1 kg, 2 m/s) hits cart 2 (1 kg, at rest).",
     "solution": "0 and 2 m/s", "answers": "0, 2", "unit": "m/s", "answer_type": "NV,NV", "subject": "ClassicalMechanics",
     "topic": "Collisions", "level": "Laws Application", "is_multiple_answer": True},
    {"index": 4, "problem": "For which range of x is the potential V = x^2 below 4 J (x in metres)?", "solution": "(-2, 2)",
     "answers": "(-2, 2)", "unit": "", "answer_type": "IN", "subject": "ClassicalMechanics", "topic": "Potentials",
     "level": "Math Derivation", "is_multiple_answer": False},
]

OLYMPIADBENCH = [
    {"id": 1001, "question": "A small block slides without friction down a height h. Find its speed at the bottom.",
     "solution": ["Energy conservation gives v = sqrt(2 g h)."], "final_answer": ["$\\sqrt{2 g h}$"], "context": None,
     "image_1": None, "image_2": None, "image_3": None, "image_4": None, "image_5": None, "modality": "Text-only",
     "difficulty": "Competition", "is_multiple_answer": False, "unit": None, "answer_type": "Expression", "error": None,
     "question_type": "Open-ended", "subfield": "Mechanics", "subject": "Physics", "language": "English"},
    {"id": 1002, "question": "How long does light take to cross 3.0e8 m?", "solution": ["t = d / c."], "final_answer": ["1.0"],
     "context": "Take c = 3.0e8 m/s.", "image_1": None, "image_2": None, "image_3": None, "image_4": None, "image_5": None,
     "modality": "Text-only", "difficulty": "Competition", "is_multiple_answer": False, "unit": "s", "answer_type": "Numerical",
     "error": "1e-2", "question_type": "Open-ended", "subfield": "Modern Physics", "subject": "Physics", "language": "English"},
]

PHYBENCH = [
    {"id": 7, "tag": "MECHANICS", "content": "A pendulum of length L swings with small amplitude in gravity g. Give its period.",
     "solution": "T = 2 pi sqrt(L/g)", "answer": "T = 2\\pi\\sqrt{\\frac{L}{g}}"},
    {"id": 8, "tag": "ELECTRICITY", "content": "Two charges q at distance r: give the magnitude of the Coulomb force (constant k).",
     "solution": "F = k q^2 / r^2", "answer": "\\frac{k q^{2}}{r^{2}}"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_all(root: Path) -> dict[str, str]:
    """One local copy per registry entry; returns {benchmark name: path to pass after '='}."""
    mmlu = root / "mmlu_cp"
    write_jsonl(mmlu / "test.jsonl", MMLU_TEST)
    write_jsonl(mmlu / "dev.jsonl", MMLU_DEV)
    hs = [dict(r, subject="high_school_physics") for r in MMLU_TEST]
    cp = [dict(r, subject="conceptual_physics") for r in MMLU_TEST]
    return {
        "mmlu:college_physics": str(mmlu),
        "mmlu:high_school_physics": str(write_jsonl(root / "mmlu_hs.jsonl", hs)),
        "mmlu:conceptual_physics": str(write_jsonl(root / "mmlu_cs.jsonl", cp)),
        "gpqa:physics": str(write_jsonl(root / "gpqa.jsonl", GPQA)),
        "scibench": str(write_jsonl(root / "scibench.jsonl", SCIBENCH)),
        "theoremqa:physics": str(write_jsonl(root / "theoremqa.jsonl", THEOREMQA)),
        "ugphysics": str(write_jsonl(root / "ugphysics.jsonl", UGPHYSICS)),
        "olympiadbench:physics": str(write_jsonl(root / "olympiadbench.jsonl", OLYMPIADBENCH)),
        "phybench": str(write_jsonl(root / "phybench.jsonl", PHYBENCH)),
    }
