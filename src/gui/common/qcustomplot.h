#pragma once
// Debian's qcustomplot.h uses Qt's lower-case keywords (signals, foreach), which this
// project turns off (QT_NO_KEYWORDS): map them to the macros for this one header.
#define signals Q_SIGNALS
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef foreach
