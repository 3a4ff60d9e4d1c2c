#ifndef BUILDRISK_CXGBOOST_SHIM_H
#define BUILDRISK_CXGBOOST_SHIM_H
#include <xgboost/c_api.h>
#endif
