"""A damped pendulum integrated with explicit Euler steps; the derivative of the final angle
with respect to the initial angle, the initial angular velocity and the damping.

theta'' = -(g / L) sin(theta) - damping * theta', written as the first-order system
(theta, omega)' = (omega, -(g / L) sin(theta) - damping * omega).
"""

import math

import s2sad
from s2sad.check.fd import numerical_grad

from _check import report

G_OVER_L = 9.81


def pendulum_rhs(theta, omega, damping):
    return omega, -G_OVER_L * math.sin(theta) - damping * omega


def final_angle(theta0, omega0, damping, dt, n_steps):
    theta = theta0
    omega = omega0
    for step in range(n_steps):
        dtheta, domega = pendulum_rhs(theta, omega, damping)
        theta = theta + dt * dtheta
        omega = omega + dt * domega
    return theta


def main(mode="reverse", verbose=True, jit=False):
    args = (0.8, -0.3, 0.25, 0.01, 200)  # theta0, omega0, damping, dt, n_steps
    dangle = s2sad.grad(final_angle, argnums=(0, 1, 2), mode=mode, jit=jit)
    g = dangle(*args)
    fd = numerical_grad(final_angle, args, argnums=(0, 1, 2))
    return report(f"euler_ode ({mode})", s2sad.source(dangle, *args), g, fd, verbose)


if __name__ == "__main__":
    main()
