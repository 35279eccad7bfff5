// Command mqtt-passwd creates and updates password files in the format
// mosquitto_passwd writes.
package main

func main() {}
