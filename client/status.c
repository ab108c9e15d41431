/* Status strings, generated from the same table as the enum. */
#include "metatoken/metatoken.h"

#include <stddef.h>

static const char *const messages[] = {
#define MSG_(name, msg) [name] = msg,
	MTK_STATUS_MAP(MSG_)
#undef MSG_
};

static const char *const names[] = {
#define NAME_(name, msg) [name] = #name,
	MTK_STATUS_MAP(NAME_)
#undef NAME_
};

const char *mtk_strerror(enum mtk_status s)
{
	if ((unsigned)s >= sizeof(messages) / sizeof(messages[0]))
		return "unknown status";
	return messages[s];
}

const char *mtk_status_name(enum mtk_status s)
{
	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "MTK_UNKNOWN";
	return names[s];
}

const char *mtk_version(void)
{
	return MTK_VERSION_STRING;
}
