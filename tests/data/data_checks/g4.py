"""Numeric checks for the quantum_mechanics, atomic_nuclear_particle, condensed_matter and astrophysics items.

Each entry: id -> (value recomputed from first principles, number exactly as written in the answer
or, for multiple choice, in the correct choice).
"""
import math

from .constants import (
    ARCSEC, AU, L_sun, M_sun, N_A, R_gas, R_sun, YEAR, G, c, e, h, hbar, k_B, k_e, m_e, m_p, mu_B, sigma_SB, sigma_T,
    u_MeV,
)


# copper: conduction-electron density from density and molar mass (one electron per atom)
n_Cu_computed = 8960 * N_A / 0.06355
n_Cu = 8.5e28  # value quoted in the later copper questions


def _fermi_energy_eV(n):
    return hbar**2 / (2 * m_e) * (3 * math.pi**2 * n) ** (2 / 3) / e


def _tunneling_T():
    kappa = math.sqrt(2 * m_e * 1.0 * e) / hbar
    return math.exp(-2 * kappa * 1.0e-9)


CHECKS = {
    # quantum_mechanics
    "qm-003": (h * c / 500e-9, "3.97e-19"),
    "qm-005": (h / (m_e * 1.0e6), "7.3e-10"),
    "qm-010": (h / (0.145 * 40), "1.14e-34"),
    "qm-011": (h * c / 250e-9 / e - 4.5, "0.46"),
    "qm-017": (h**2 / (8 * m_e * (1.0e-9) ** 2), "6.0e-20"),
    "qm-021": (hbar / (2 * 1.0e-10), "5.3e-25"),
    "qm-022": (_tunneling_T(), "3.6e-5"),
    "qm-028": (h / (m_e * c) * (1 - math.cos(math.radians(90))), "2.43e-12"),
    "qm-031": (2.0023 * mu_B * 1.0 / h / 1e9, "28"),
    "qm-032": (1 / (2 * math.pi * 16e-9) / 1e6, "9.9"),
    "qm-036": (2 * math.sqrt(2), "2.83"),
    "qm-mc-001": (h * 1.0e15, "6.6e-19"),
    "qm-mc-011": (2 * 1.5 + 1, "4"),
    "qm-mc-014": (math.cos(math.radians(60) / 2) ** 2, "0.75"),
    # atomic_nuclear_particle
    "anp-002": (k_e * e**2 / (G * m_p**2), "1.24e36"),
    "anp-008": (1 / (1.097e7 * (1 / 2**2 - 1 / 3**2)) * 1e9, "656"),
    "anp-010": (200 / (235 * u_MeV) * 100, "0.09"),
    "anp-011": (1.0e-3 * c**2, "9.0e13"),
    "anp-014": (m_e * c**2 / e / 1e3, "511"),
    "anp-017": (5730 * math.log(1 / 0.40) / math.log(2), "7570"),
    "anp-018": (126 / 82, "1.54"),
    "anp-019": ((1.007276 + 1.008665 - 2.013553) * u_MeV, "2.22"),
    "anp-022": (1.2 * 208 ** (1 / 3), "7.1"),
    "anp-024": (13.6 * (29 - 1) ** 2 * (1 - 1 / 4) / 1e3, "8.0"),
    "anp-025": ((1.0 / 226) * N_A * math.log(2) / (1600 * YEAR), "3.7e10"),
    "anp-027": ((2.014102 + 3.016049 - 4.002603 - 1.008665) * u_MeV, "17.6"),
    "anp-028": (939.565 - 938.272 - 0.511, "0.78"),
    "anp-030": (k_B * 293 / e, "0.025"),
    "anp-032": (math.sqrt(2 * 0.938 * 7000), "115"),
    "anp-038": (197.3 / 139.6, "1.4"),
    "anp-mc-010": (m_p * c**2 / e / 1e6, "938"),
    "anp-mc-013": (13.6 / 2**2, "3.4"),
    "anp-mc-014": (2**2 / 1**2, "4"),
    "anp-mc-015": (13.6 * (1 - 1 / 2**2), "10.2"),
    # condensed_matter
    "cmat-011": (h * c / (1.12 * e), "1.11e-6"),
    "cmat-015": (n_Cu_computed, "8.5e28"),
    "cmat-017": (abs(273.15 * (1 / 1000 - 1 / 917) / 334e3 * 101325), "0.0075"),
    "cmat-018": (_fermi_energy_eV(n_Cu), "7.0"),
    "cmat-023": (math.degrees(math.asin(0.154 / (2 * 0.282))), "15.8"),
    "cmat-025": (3 * R_gas, "24.9"),
    "cmat-026": (1.0 * 1.0 / (n_Cu * e * 1.0e-4), "7.3e-7"),
    "cmat-031": (m_e / (n_Cu * e**2 * 1.68e-8), "2.5e-14"),
    "cmat-033": (math.pi**2 / 3 * (k_B / e) ** 2, "2.44e-8"),
    "cmat-034": (h / e**2, "25813"),
    "cmat-035": (h / (2 * e), "2.07e-15"),
    "cmat-mc-004": (8 * (1 / 8) + 1, "2"),
    "cmat-mc-009": (math.pi / (3 * math.sqrt(2)), "0.74"),
    "cmat-mc-020": (2 * e * 1.0e-6 / h / 1e6, "483.6"),
    # astrophysics
    "ast-001": ((4 * 1.007825 - 4.002603) / (4 * 1.007825) * 100, "0.7"),
    "ast-007": (c * 365.25 * 86400, "9.46e15"),
    "ast-009": (AU / c, "499"),
    "ast-011": (2.898e-3 / 5772 * 1e9, "502"),
    "ast-012": (AU / math.tan(ARCSEC), "3.09e16"),
    "ast-017": (4 * math.pi * R_sun**2 * sigma_SB * 5772**4, "3.83e26"),
    "ast-019": (k_B * 1.5e7 / e / 1e3, "1.3"),
    "ast-020": (1e10 * 10 ** (-2.5), "3.2e7"),
    "ast-023": (4.83 + 5 * math.log10(100 / 10), "9.83"),
    "ast-028": ((6.991e7 / R_sun) ** 2, "0.010"),
    "ast-029": (1.898e27 / M_sun * 13.07e3, "12.5"),
    "ast-030": (c / 1420.4e6, "0.211"),
    "ast-033": (4 * math.pi * G * M_sun * m_p * c / sigma_T, "1.26e31"),
    "ast-037": (G * M_sun**2 / (R_sun * L_sun) / YEAR, "3.1e7"),
    "ast-040": (1 - math.sqrt(8 / 9), "0.057"),
    "ast-mc-007": (1 / 0.25, "4"),
    "ast-mc-010": (2.0**4, "16"),
    "ast-mc-014": (100 ** (5 / 5), "100"),
    "ast-mc-020": (G * 1.4 * M_sun / (12e3) ** 2, "1.3e12"),
}
