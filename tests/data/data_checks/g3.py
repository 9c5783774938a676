"""Numeric checks for the electromagnetism, circuits, special_relativity and general_relativity_cosmology items.

Each entry: id -> (value recomputed from first principles, number exactly as written in the answer
or, for multiple choice, in the correct choice).
"""
import math

from .constants import MEV, MPC_KM, MPC_M, YEAR, G, M_earth, M_sun, c, e, eps0, h, hbar, k_B, k_e, m_e, m_p, mu0


def _gamma(beta):
    return 1 / math.sqrt(1 - beta**2)


def _schwarzschild(mass):
    return 2 * G * mass / c**2


CHECKS = {
    # electromagnetism
    "em-002": (k_e * (1.0e-6) ** 2 / 0.10**2, "0.90"),
    "em-009": (mu0 * 10 / (2 * math.pi * 0.050), "4.0e-5"),
    "em-011": (0.20 * 3.0 * 0.50, "0.30"),
    "em-013": (math.sqrt(2 * e * 100 / m_e), "5.9e6"),
    "em-015": (1 / math.sqrt(mu0 * eps0), "3.0e8"),
    "em-021": (math.sqrt(2 * 1000 / (c * eps0)), "870"),
    "em-022": (m_p * 1.0e6 / (e * 0.50), "0.021"),
    "em-023": (e * 1.0 / (2 * math.pi * m_e), "2.8e10"),
    "em-026": (1e3 * math.sqrt(2 * 1.68e-8 / (2 * math.pi * 60 * mu0)), "8.4"),
    "em-031": (1361 / c, "4.5e-6"),
    "em-035": (e**2 / (4 * math.pi * eps0 * m_e * c**2), "2.8e-15"),
    "em-037": (math.sqrt(1.0e12 * e**2 / (eps0 * m_e)) / (2 * math.pi) / 1e6, "9.0"),
    "em-038": (e**2 / (6 * math.pi * eps0 * m_e * c**3), "6.3e-24"),
    "em-mc-003": (12 / 3.0e-3, "4000"),
    "em-mc-007": (k_e * 2.0e-9 / 0.30, "60"),
    "em-mc-009": (mu0 * 1000 * 2.0, "2.5e-3"),
    "em-mc-011": (0.5 * eps0 * (1.0e6) ** 2, "4.4"),
    "em-mc-012": (1.0e-9 / eps0, "113"),
    "em-mc-013": (0.40 * 0.50 * 3.0, "0.60"),
    # circuits
    "ci-002": (9.0 / 450, "0.020"),
    "ci-004": (1 / (1 / 30 + 1 / 60), "20"),
    "ci-005": (1.0 / (8.5e28 * e * 1.0e-6), "7.3e-5"),
    "ci-007": (120**2 / 60, "240"),
    "ci-010": (1500 * 3.0 * 3600 / 3.6e6, "4.5"),
    "ci-013": (12 / 10000 * 1e3, "1.2"),
    "ci-017": ((1 - math.exp(-1)) * 100, "63"),
    "ci-018": (0.5 * 470e-6 * 25**2, "0.147"),
    "ci-020": (1 / (2 * math.pi * math.sqrt(10e-3 * 1.0e-6)) / 1e3, "1.6"),
    "ci-021": (math.sqrt(2) * 230, "325"),
    "ci-025": (1.5 - 1.5 / (2.5 + 0.50) * 0.50, "1.25"),
    "ci-029": (-100e3 / 10e3, "-10"),
    "ci-031": (1.68e-8 * 10 / 1.0e-6, "0.168"),
    "ci-034": ((75 - 50) / (75 + 50), "0.20"),
    "ci-mc-002": (10 / (4 + 6 + 10), "0.50"),
    "ci-mc-004": (2.0**2 * 5.0, "20"),
    "ci-mc-006": (230 * 10, "2300"),
    "ci-mc-009": (2.0 / 50, "0.040"),
    "ci-mc-010": (2 * math.pi * 50 * 0.10, "31.4"),
    "ci-mc-011": ((1 - math.exp(-2)) * 100, "86"),
    "ci-mc-013": (eps0 * 0.010 / 1.0e-3, "8.9e-11"),
    "ci-mc-018": (50**2 / 100, "25"),
    "ci-mc-019": (math.sqrt(1.0e-3 / 10e-9) / 10, "31.6"),
    "ci-mc-020": ((1 + 1 / 3) / (1 - 1 / 3), "2.0"),
    # special_relativity
    "sr-004": (6.0 * _gamma(0.80), "10"),
    "sr-006": (1.0e9 * 3.156e7 / c**2, "0.35"),
    "sr-011": (1.0 * 4186 * 100 / c**2, "4.7e-12"),
    "sr-015": ((0.50 + 0.50) / (1 + 0.50 * 0.50), "0.80"),
    "sr-016": (_gamma(0.10), "1.005"),
    "sr-017": (_gamma(0.995) * 0.995 * c * 2.2e-6 / 1e3, "6.6"),
    "sr-021": (math.sqrt((1 - 0.5) / (1 + 0.5)), "0.58"),
    "sr-023": ((_gamma(0.99) - 1) * 0.511, "3.1"),
    "sr-024": (math.sqrt(1 - 1 / (1 + 1.0 / 0.511) ** 2), "0.94"),
    "sr-033": (c**2 / 9.81, "9.2e15"),
    "sr-034": (math.sqrt(2 * 0.938**2 + 2 * 7000 * 0.938), "115"),
    "sr-mc-001": (10 * 26, "260"),
    "sr-mc-004": (1.0 / _gamma(0.60), "0.80"),
    "sr-mc-010": (2.0 * e / c, "1.07e-27"),
    "sr-mc-011": (_gamma(0.60), "1.25"),
    "sr-mc-012": (2 * m_e * c**2 / MEV, "1.022"),
    "sr-mc-013": ((_gamma(0.50) - 1) * 1.0 * c**2, "1.4e16"),
    "sr-mc-014": (math.sqrt(1 - 1 / 2**2), "0.87"),
    "sr-mc-019": (math.atanh(0.50), "0.549"),
    # general_relativity_cosmology
    "gr-003": (70 * 100, "7000"),
    "gr-010": (MPC_KM / 70 / YEAR / 1e9, "14.0"),
    "gr-011": (_schwarzschild(M_earth), "8.9e-3"),
    "gr-014": (2.898e-3 / 2.725, "1.06e-3"),
    "gr-017": (9.81 * 1.0 / c**2, "1.1e-16"),
    "gr-019": (2 * (1 / 7) / (1 + 1 / 7), "0.25"),
    "gr-020": (3 * (70e3 / MPC_M) ** 2 / (8 * math.pi * G), "9.2e-27"),
    "gr-024": (3000 / 2.725 - 1, "1100"),
    "gr-027": (3.0 * M_sun * c**2, "5.4e47"),
    "gr-028": (5.0e-22 * 4000, "2.0e-18"),
    "gr-029": (1.0e8 * M_sun / (4 / 3 * math.pi * _schwarzschild(1.0e8 * M_sun) ** 3), "1.84e3"),
    "gr-036": (c**3 * 4 * math.pi * _schwarzschild(M_sun) ** 2 / (4 * G * hbar), "1.05e77"),
    "gr-039": (5120 * math.pi * G**2 * M_sun**3 / (hbar * c**4) / YEAR, "2.1e67"),
    "gr-mc-012": ((1 + 3) * 121.6, "486"),
}
