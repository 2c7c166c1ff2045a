/* Compiles one public header alone (HEADER), so each is self-contained. */
#include HEADER

int main(void)
{
    return 0;
}
