"""Loops marked for binomial checkpointing."""

import math

import numpy as np

import s2sad


def lorenz_ck(state0, params, nsteps, dt, k):
    sigma = params[0]
    rho = params[1]
    beta = params[2]
    x = state0[0]
    y = state0[1]
    z = state0[2]
    for step in s2sad.checkpointed(range(nsteps), snapshots=k):
        dx = sigma * (y - x)
        dy = x * (rho - z) - y
        dz = x * y - beta * z
        x = x + dt * dx
        y = y + dt * dy
        z = z + dt * dz
    return x * x + y * y + z * z


def lorenz_plain(state0, params, nsteps, dt):
    sigma = params[0]
    rho = params[1]
    beta = params[2]
    x = state0[0]
    y = state0[1]
    z = state0[2]
    for step in range(nsteps):
        dx = sigma * (y - x)
        dy = x * (rho - z) - y
        dz = x * y - beta * z
        x = x + dt * dx
        y = y + dt * dy
        z = z + dt * dz
    return x * x + y * y + z * z


def heat_ck(u0, nsteps, k):
    u = u0.copy()
    n = u.shape[0]
    for t in s2sad.checkpointed(range(nsteps), snapshots=k):
        for i in range(1, n - 1):
            u[i] = u[i] + 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1]) + 0.01 * math.sin(u[i])
    return np.sum(u * u)
