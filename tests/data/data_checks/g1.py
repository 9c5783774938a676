"""Numeric checks for the classical_mechanics, gravitation, fluids and mathematical_methods items.

Each entry: id -> (value recomputed from first principles, number exactly as written in the answer
or, for multiple choice, in the correct choice).
"""
import math

from .constants import ARCSEC, AU, GM_earth, M_earth, M_moon, M_sun, N_A, R_earth, R_sun, G, c, d_moon, g, hbar, k_B


def _agm(a, b):
    for _ in range(40):
        a, b = (a + b) / 2, math.sqrt(a * b)
    return a


def _ellip_k(k):
    """Complete elliptic integral of the first kind K(k) via the arithmetic-geometric mean."""
    return math.pi / (2 * _agm(1.0, math.sqrt(1 - k * k)))


def _gps_net_us_per_day():
    r = 2.656e7
    grav = GM_earth / c**2 * (1 / R_earth - 1 / r)
    vel = (GM_earth / r) / (2 * c**2)
    return (grav - vel) * 86400 * 1e6


def _mercury_arcsec_per_century():
    GM_sun = G * M_sun
    a, e, period_days = 5.791e10, 0.2056, 87.969
    per_orbit = 6 * math.pi * GM_sun / (c**2 * a * (1 - e**2))
    return per_orbit * (36525 / period_days) / ARCSEC


CHECKS = {
    # classical_mechanics
    "cm-004": (9.8, "9.8"),
    "cm-005": (2.0 * 3.0, "6.0"),
    "cm-006": (math.sqrt(2 * 9.8 * 20), "19.8"),
    "cm-010": (0.5 * 1000 * 20**2, "2.0e5"),
    "cm-014": (50 * 9.8 * 2.0 / 4.0, "245"),
    "cm-015": (0.25 * 40, "10"),
    "cm-020": (2 * math.pi * math.sqrt(1.0 / 9.81), "2.01"),
    "cm-021": ((2 / math.pi * _ellip_k(math.sin(math.radians(45))) - 1) * 100, "18"),
    "cm-026": (0.5 * 2.0 * 0.50**2, "0.25"),
    "cm-030": (1500 * 20 / (1500 + 1000), "12"),
    "cm-mc-003": (15 * math.sqrt(2 * 45 / 9.8), "45"),
    "cm-mc-005": (0.15 * 40, "6.0"),
    "cm-mc-009": (0.5 * 400 * 0.10**2, "2.0"),
    "cm-mc-014": (math.sqrt(10 * 9.8 * 1.0 / 7), "3.74"),
    "cm-mc-016": (3 + 3, "6"),
    # gravitation
    "grav-001": (9.81 * (6371 / (6371 + 400))**2, "8.7"),
    "grav-004": (G * 1000 * 1000 / 1.0**2, "6.7e-5"),
    "grav-007": (G * M_earth / R_earth**2, "9.82"),
    "grav-009": (M_sun / M_earth, "330000"),
    "grav-010": (math.sqrt(2 * G * M_earth / R_earth) / 1000, "11.2"),
    "grav-018": (2 * math.pi * math.sqrt(R_earth**3 / GM_earth) / 60, "84"),
    "grav-023": (math.sqrt(GM_earth / (R_earth + 400e3)) / 1000, "7.67"),
    "grav-027": (4 * math.pi**2 * AU**3 / (G * 3.156e7**2), "1.99e30"),
    "grav-028": (M_earth / M_moon, "81"),
    "grav-029": ((M_sun / M_moon) * (d_moon / AU)**3, "0.46"),
    "grav-032": ((GM_earth * 86164**2 / (4 * math.pi**2))**(1 / 3) / 1000, "42200"),
    "grav-033": (_gps_net_us_per_day(), "38"),
    "grav-034": (2 * G * M_sun / c**2 / 1000, "2.95"),
    "grav-035": (_mercury_arcsec_per_century(), "43"),
    "grav-038": (4 * G * M_sun / (c**2 * R_sun) / ARCSEC, "1.75"),
    "grav-039": (hbar * c**3 / (8 * math.pi * G * M_sun * k_B), "6.2e-8"),
    "grav-mc-004": (2 * 9.8, "19.6"),
    "grav-mc-008": (9.8 / 2**2, "2.45"),
    "grav-mc-013": (G * 5.97e24 * 1000 / 6.37e6, "6.3e10"),
    # fluids
    "fl-003": (1000 * 9.8 * 10, "9.8e4"),
    "fl-006": (101325 / (1000 * 9.81), "10.3"),
    "fl-007": (1.5 * (2.0 / 0.50)**2, "24"),
    "fl-008": (200 * 50, "1.0e4"),
    "fl-009": (917 / 1025 * 100, "89"),
    "fl-014": (220 + 101.3, "320"),
    "fl-018": (math.sqrt(2 * 9.8 * 0.80), "3.96"),
    "fl-020": (2**4, "16"),
    "fl-021": (2 * 1000 * 9.8 * (10e-6)**2 / (9 * 1.8e-5) * 100, "1.2"),
    "fl-025": (math.sqrt(2.2e9 / 1000), "1480"),
    "fl-028": (2 * 0.072 * math.cos(0) / (1000 * 9.81 * 0.50e-3) * 100, "2.9"),
    "fl-029": (k_B * 288 / ((0.029 / N_A) * 9.81) / 1000, "8.4"),
    "fl-030": (math.sqrt(2 * 80 * 9.8 / (1.2 * 1.0 * 0.70)), "43"),
    "fl-mc-002": (1.01e5 * 0.50, "5.1e4"),
    "fl-mc-004": (1.013e5 / (13600 * 9.81) * 1000, "760"),
    "fl-mc-008": (1025 * 9.8 * 0.020, "201"),
    "fl-mc-010": (4.0e7 / 2.2e9 * 100, "1.8"),
    "fl-mc-016": (math.sqrt(9.8 * 4000), "198"),
    # mathematical_methods
    "mm-002": (math.degrees(math.acos((1 * 2 + 2 * 0 + 2 * 1) / (3 * math.sqrt(5)))), "53.4"),
    "mm-005": ((math.radians(10) - math.sin(math.radians(10))) / math.sin(math.radians(10)) * 100, "0.51"),
    "mm-007": (math.log(2) / 0.10, "6.93"),
    "mm-008": (10 * math.cos(math.radians(30)), "8.66"),
    "mm-011": (math.hypot(3, 4), "5"),
    "mm-014": (2 * 30 * 60 / (30 + 60), "40"),
    "mm-026": (math.sqrt(math.pi / 2), "1.25"),
    "mm-029": (math.lgamma(101), "363.7"),
    "mm-033": (math.pi / math.e, "1.16"),
    "mm-mc-003": (math.sqrt(2**2 + 3**2 + 6**2), "7"),
    "mm-mc-006": (365.25 * 86400, "3.16e7"),
    "mm-mc-009": (1 + 1 + 1, "3"),
    "mm-mc-012": (max((4 + math.sqrt(4 * 4 - 4 * 3)) / 2, (4 - math.sqrt(4 * 4 - 4 * 3)) / 2), "3"),
}
