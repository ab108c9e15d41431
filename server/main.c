/* Placeholder until the HTTP layer lands. */
int main(void)
{
	return 0;
}
