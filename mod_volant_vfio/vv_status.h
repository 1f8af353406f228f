/* A Volant VFIO section in mod_status's /server-status (and ?auto). */
#ifndef VV_STATUS_H
#define VV_STATUS_H

#include "vv_private.h"

void vv_status_register(void);

#endif
