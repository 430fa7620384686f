/* version.h — the engine's version, recorded in files and cache keys. */
#ifndef TAV_VERSION_H
#define TAV_VERSION_H

#define TAV_VERSION_MAJOR 0
#define TAV_VERSION_MINOR 1
#define TAV_VERSION_PATCH 0
#define TAV_VERSION_STRING "0.1.0"

#endif
