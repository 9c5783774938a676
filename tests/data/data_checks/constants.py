"""SI constants for the numeric checks (g1-g4), one value each, to the precision the answers were written with."""

import math

# fundamental
c = 2.998e8  # m/s
h = 6.626e-34  # J s
hbar = 1.0546e-34  # J s
e = 1.602e-19  # C
k_B = 1.381e-23  # J/K
N_A = 6.022e23  # 1/mol
R_gas = 8.314  # J/(mol K)
G = 6.674e-11  # m^3/(kg s^2)
k_e = 8.988e9  # N m^2/C^2
eps0 = 8.854e-12  # F/m
mu0 = 1.257e-6  # H/m
m_e = 9.109e-31  # kg
m_p = 1.6726e-27  # kg
mu_B = 9.274e-24  # J/T
sigma_SB = 5.670e-8  # W/(m^2 K^4)
sigma_T = 6.652e-29  # m^2
u_MeV = 931.494  # MeV per atomic mass unit
MEV = 1e6 * e  # J
g = 9.81  # m/s^2

# astronomical
M_earth = 5.972e24  # kg
R_earth = 6.371e6  # m
GM_earth = 3.986e14  # m^3/s^2
M_moon = 7.342e22  # kg
d_moon = 3.844e8  # m
M_sun = 1.989e30  # kg
R_sun = 6.957e8  # m
L_sun = 3.828e26  # W
AU = 1.496e11  # m
YEAR = 3.156e7  # s
MPC_KM = 3.086e19  # km
MPC_M = 3.086e22  # m
ARCSEC = math.pi / (180 * 3600)  # rad
