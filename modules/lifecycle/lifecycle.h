/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* What the lifecycle module tells the others. */

/* True while the instance waits in an Auto Scaling warm pool (its target
 * lifecycle state is Warmed:Stopped, Warmed:Running, ...): the parts of the
 * boot that belong to serving (ordering certificates) wait until it goes
 * InService. */
bool lifecycle_warmed(void);
