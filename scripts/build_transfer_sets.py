"""Writes the bundled transfer sets (short-answer physics, general non-physics) as jsonl splits."""
import json, sys
from pathlib import Path

SHORT = [  # (topic, question, answer): quiz-key style, a term or a number with its unit, no explanation
 ("circuits", "What is the SI unit of electric capacitance?", "the farad (F)"),
 ("classical_mechanics", "A car speeds up uniformly from rest to 20 m/s in 5 s. What is its acceleration?", "4 m/s^2"),
 ("atomic_nuclear_particle", "Which particle carries the electromagnetic force?", "the photon"),
 ("waves_acoustics", "Roughly how fast does sound travel in air at 20 degrees Celsius?", "about 343 m/s"),
 ("thermodynamics", "How many joules make up one kilowatt-hour?", "3.6e6 J"),
 ("circuits", "A resistor draws 2 A from a 12 V source. What is its resistance?", "6 ohm"),
 ("optics", "Which kind of lens corrects nearsightedness?", "a diverging (concave) lens"),
 ("thermodynamics", "What is the name given to a temperature of 0 K?", "absolute zero"),
 ("classical_mechanics", "What is the kinetic energy of a 2 kg mass moving at 3 m/s?", "9 J"),
 ("waves_acoustics", "Which property of a sound wave sets the pitch we hear?", "its frequency"),
 ("electromagnetism", "What is the charge of one electron in coulombs?", "-1.602e-19 C"),
 ("condensed_matter", "In which state of matter do the particles sit in a fixed, closely packed lattice?", "the solid state"),
 ("waves_acoustics", "What is the period of a wave whose frequency is 50 Hz?", "0.02 s"),
 ("classical_mechanics", "Who stated the three laws of motion published in the Principia?", "Isaac Newton"),
 ("circuits", "How much power is dissipated when 3 A flows through a 4 ohm resistor?", "36 W"),
 ("gravitation", "What is the free-fall acceleration near Earth's surface, to two significant figures?", "9.8 m/s^2"),
 ("atomic_nuclear_particle", "What fraction of a radioactive sample is left after three half-lives?", "1/8"),
 ("optics", "Which colour of the rainbow is bent the most by a glass prism?", "violet"),
 ("classical_mechanics", "What is the momentum of a 1500 kg car driving at 10 m/s?", "15000 kg m/s"),
 ("classical_mechanics", "What is the name of the force that resists two surfaces sliding past each other?", "friction"),
 ("gravitation", "What does a 10 kg mass weigh on Earth?", "about 98 N"),
 ("optics", "Which effect makes a straw look bent where it enters a glass of water?", "refraction"),
 ("electromagnetism", "In which SI unit is magnetic flux density measured?", "the tesla (T)"),
 ("optics", "What is the frequency of light whose vacuum wavelength is 600 nm?", "5.0e14 Hz"),
 ("electromagnetism", "What is the SI unit of inductance?", "the henry (H)"),
 ("classical_mechanics", "A stone is dropped from rest. How fast is it falling after 2 s if air resistance is ignored?", "about 19.6 m/s"),
 ("atomic_nuclear_particle", "Which uncharged particle is found in atomic nuclei?", "the neutron"),
 ("classical_mechanics", "How much work does it take to lift a 5 kg box 2 m straight up?", "about 98 J"),
 ("circuits", "What is the combined resistance of two 10 ohm resistors connected in parallel?", "5 ohm"),
 ("optics", "What type of mirror is fitted as a car's side mirror to show a wide view?", "a convex mirror"),
 ("thermodynamics", "What is 300 K expressed in degrees Celsius?", "about 27 degC"),
 ("fluids", "Which physical quantity is measured in pascals?", "pressure"),
 ("waves_acoustics", "What is the wavelength of a 340 Hz tone in air where sound moves at 340 m/s?", "1 m"),
 ("quantum_mechanics", "What is the lowest-energy state of an atom called?", "the ground state"),
 ("circuits", "How much charge passes a point when a current of 2 A flows for 30 s?", "60 C"),
 ("fluids", "What is the density of liquid water at about 4 degrees Celsius?", "1000 kg/m^3"),
 ("quantum_mechanics", "Who explained the photoelectric effect with light quanta in 1905?", "Albert Einstein"),
 ("classical_mechanics", "What is the centripetal acceleration of a body moving at 4 m/s on a circle of radius 2 m?", "8 m/s^2"),
 ("special_relativity", "What is the speed of light in vacuum, to three significant figures?", "3.00e8 m/s"),
 ("electromagnetism", "Of radio waves, visible light and gamma rays, which has the shortest wavelength?", "gamma rays"),
 ("classical_mechanics", "What is the potential energy of a 3 kg mass held 10 m above the ground, with g = 9.8 m/s^2?", "294 J"),
 ("thermodynamics", "What is the efficiency of an ideal Carnot engine running between 600 K and 300 K?", "50%"),
 ("waves_acoustics", "What is the SI unit of frequency?", "the hertz (Hz)"),
 ("optics", "An upright image is twice as tall as its object. What is the magnification?", "+2"),
 ("atomic_nuclear_particle", "Which fundamental interaction binds quarks together inside a proton?", "the strong interaction"),
 ("fluids", "Which instrument is used to measure atmospheric pressure?", "a barometer"),
 ("gravitation", "Roughly what is the escape speed from Earth's surface?", "about 11.2 km/s"),
 ("atomic_nuclear_particle", "How many protons are in the nucleus of a carbon atom?", "6"),
]

GENERAL = [  # (topic, question, answer): everyday knowledge far from physics, to catch forgetting
 ("geography", "What is the capital city of Japan?", "Tokyo"),
 ("calendar", "How many days does a leap year have?", "366"),
 ("biology", "Which organ pumps blood around the human body?", "the heart"),
 ("geography", "Which is the largest ocean on Earth?", "the Pacific Ocean"),
 ("literature", "Who wrote the play Romeo and Juliet?", "William Shakespeare"),
 ("language", "What is the plural of the word mouse when it means the animal?", "mice"),
 ("biology", "Which gas do plants take in from the air for photosynthesis?", "carbon dioxide"),
 ("mathematics", "How many sides does a hexagon have?", "six"),
 ("mathematics", "What is seven times eight?", "56"),
 ("geography", "On which continent does Egypt lie?", "Africa"),
 ("food", "Which fruit is the main ingredient of guacamole?", "avocado"),
 ("language", "What word means the opposite of ancient?", "modern"),
 ("language", "Which language is mainly spoken in Brazil?", "Portuguese"),
 ("music", "Which instrument has 88 keys in its standard form?", "the piano"),
 ("calendar", "How many minutes are in two hours?", "120"),
 ("biology", "Which insect makes honey?", "the honeybee"),
 ("geography", "Which country has the largest land area?", "Russia"),
 ("art", "What colour do you get by mixing blue and yellow paint?", "green"),
 ("mathematics", "What is the square root of 81?", "9"),
 ("art", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
 ("geography", "What is the capital city of Canada?", "Ottawa"),
 ("geography", "How many continents are usually counted?", "seven"),
 ("chemistry", "What is the chemical symbol of gold?", "Au"),
 ("language", "Which language has the most native speakers?", "Mandarin Chinese"),
 ("biology", "Which bone structure protects the brain?", "the skull"),
 ("mathematics", "What is 15 percent of 200?", "30"),
 ("geography", "Which is the longest river in South America?", "the Amazon"),
 ("history", "Who was the first president of the United States?", "George Washington"),
 ("language", "What is the past tense of the verb run?", "ran"),
 ("biology", "How many legs does a spider have?", "eight"),
 ("biology", "What is a young cat called?", "a kitten"),
 ("history", "In which year did the Second World War end?", "1945"),
 ("language", "Which language is mainly spoken in Argentina?", "Spanish"),
 ("mathematics", "Which prime number is the smallest?", "2"),
 ("economics", "What is the currency of the United Kingdom called?", "the pound sterling"),
 ("biology", "Which vitamin does human skin make when exposed to sunlight?", "vitamin D"),
 ("biology", "Which is the largest mammal alive today?", "the blue whale"),
 ("calendar", "How many hours are there in one week?", "168"),
 ("geography", "In which city does the Eiffel Tower stand?", "Paris"),
 ("biology", "What do we call an animal that eats only plants?", "a herbivore"),
]

def write(kind, prefix, items, out):
    folder = out / kind
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{prefix}-{i + 1:03d}", "topic": t, "question": q, "answer": a} for i, (t, q, a) in enumerate(items)]
    # alternate items between validation and test so each split spans every topic block
    splits = {"validation": rows[0::2], "test": rows[1::2]}
    for split, rs in splits.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rs), encoding="utf-8")

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src/physlora/data/bundled"
write("short", "sa", SHORT, out)
write("general", "gen", GENERAL, out)
